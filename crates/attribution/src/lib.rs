//! Channel attribution over contact paths: rule-based, Markov removal effect and Shapley; funnels and path analysis.
