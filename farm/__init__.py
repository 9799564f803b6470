"""The platform the user sees: projects, models, variants, workflows, benchmark, packaging, runtime, API and CLI."""
