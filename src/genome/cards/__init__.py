"""Model cards: one page per model version for the people who must understand it — what it is for, how it was
made, how it scores, what its tests say and how its predictions are explained — as JSON, Markdown or HTML."""
