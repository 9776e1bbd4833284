"""The Sequencer: pipelines of steps, their runs and schedules."""
