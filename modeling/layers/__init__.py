"""Config-free building blocks shared by two or more videozoo architectures.

Layers take explicit sizes, never a config; each modeling file translates its config into layer arguments in
one place. The one exception is `attention.MultiHeadAttention`, which keeps the model config to read
`_attn_implementation` at call time (so `set_attn_implementation` reaches it). Attribute names are public API:
state-dict keys come from them.
"""
