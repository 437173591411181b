"""Price data: packaged dataset, yfinance, user files; cleaning, weekly panels, Backtrader feeds."""
