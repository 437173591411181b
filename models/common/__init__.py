"""Pieces both systems share: configuration base, execution accounting, PPO construction,
torch thread handling and the safe bundle format."""
