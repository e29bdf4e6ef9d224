"""Built-in plugins, registered through the same hooks as third-party ones."""

DEFAULT_PLUGINS = [
    "seqalpha.builtin_plugins.recurrent",
    "seqalpha.builtin_plugins.alstm",
    "seqalpha.builtin_plugins.tcn",
    "seqalpha.builtin_plugins.transformer",
    "seqalpha.builtin_plugins.linear",
    "seqalpha.builtin_plugins.baselines",
    "seqalpha.builtin_plugins.portfolios",
    "seqalpha.builtin_plugins.features",
    "seqalpha.builtin_plugins.synthetic",
    "seqalpha.builtin_plugins.tabular",
    "seqalpha.builtin_plugins.qlib_data",
    "seqalpha.builtin_plugins.french",
    "seqalpha.builtin_plugins.blend",
]
