"""Built-in plugins, registered through the same hooks as third-party ones."""

DEFAULT_PLUGINS = [
    "plugins.recurrent",
    "plugins.alstm",
    "plugins.tcn",
    "plugins.transformer",
    "plugins.linear",
    "plugins.portfolios",
    "plugins.features",
    "plugins.synthetic",
    "plugins.tabular",
    "plugins.qlib_data",
    "plugins.french",
]
