"""Config-free building blocks shared by two or more videozoo architectures.

Layers take explicit sizes, never a config; each modeling file translates its config into layer arguments in
one place. Attribute names are public API: state-dict keys come from them.
"""
