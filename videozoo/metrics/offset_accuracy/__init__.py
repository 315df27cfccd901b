"""Offset-classification accuracy of SparseSync (evaluate module)."""
