"""Fine-tuning: task inputs, heads and recipe, soft prompts, in-context learning, evaluation."""
