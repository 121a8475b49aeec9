"""Checkout (Stripe Checkout Session for a quote), the webhook that unlocks runs, usage metering."""
