"""The Evaluation Store: runs of evaluations (tests of models) as searchable records."""
