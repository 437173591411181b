"""Results of a backtest: Backtrader analyzers, metrics and report writers.

Public API (imported lazily, so ``import analyzers`` pulls in neither Backtrader nor pandas)::

    # analyzers.portfolio: Backtrader analyzers that fill ``self.rets`` like Backtrader's own
    PortfolioReturns, WeightsRecorder, TurnoverCosts, OrderStats
    to_series(analyzer), to_frame(analyzer)     # an analyzer's ``rets`` -> pandas
    # analyzers.metrics
    compute_metrics(returns, periods_per_year, ...), turnover_from_weights(weights), METRIC_NAMES,
    SHARPE_DEFINITION
    # analyzers.stats (numpy/scipy only): the statistics every comparison carries
    sharpe, sharpe_difference -> SharpeDiff (paired block bootstrap), default_block_length,
    deflated_sharpe -> DeflatedSharpe, deflated_sharpe_from_stats, seed_summary, compare
    # analyzers.reports (QuantStats and matplotlib only when a report is written; QuantStats
    # through the adapter analyzers.quantstats_fixes)
    write_tearsheet, write_comparison, write_metrics_json, write_weights_csv, write_returns_csv,
    format_metrics_table, align_benchmark, format_metric, metric_label, distinct_colors,
    sharpe_definition

The pandas idiom is one pair of helpers, never ``get_analysis()`` itself::

    cerebro.addanalyzer(PortfolioReturns, _name="returns")
    strat = cerebro.run()[0]
    strat.analyzers.returns.pprint()                    # Backtrader's view: the rets dict
    returns = to_series(strat.analyzers.returns)        # pd.Series on the bar dates
"""

from feeds.lazy import lazy_exports

_EXPORTS = {
    "analyzers.portfolio": ("PortfolioReturns", "WeightsRecorder", "TurnoverCosts", "OrderStats",
                            "to_series", "to_frame"),
    "analyzers.metrics": ("compute_metrics", "turnover_from_weights", "METRIC_NAMES",
                          "SHARPE_DEFINITION"),
    "analyzers.stats": ("sharpe", "sharpe_difference", "SharpeDiff", "default_block_length",
                        "deflated_sharpe", "deflated_sharpe_from_stats", "DeflatedSharpe",
                        "seed_summary", "compare", "block_indices", "expected_max_sharpe",
                        "METHODS", "MIN_OBS"),
    "analyzers.reports": ("write_tearsheet", "write_comparison", "write_metrics_json",
                          "write_weights_csv", "write_returns_csv", "format_metrics_table",
                          "align_benchmark", "format_metric", "metric_label",
                          "distinct_colors", "sharpe_definition"),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
