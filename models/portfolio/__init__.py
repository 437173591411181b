"""System 1: weekly multi-asset allocation (LSTM forecasts, PPO, Top-K projection)."""
