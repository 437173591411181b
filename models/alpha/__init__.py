"""System 2: daily per-stock PPO weighting of formulaic alphas."""
