"""The sandbox Xray Cloud: see app.py for the contract it follows."""
