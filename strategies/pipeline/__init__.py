"""Run pipelines behind the CLI: load data, train or reuse bundles, backtest, write outputs."""
