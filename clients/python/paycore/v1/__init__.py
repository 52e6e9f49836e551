"""Generated from protos/paycore/v1 by `make proto`. Do not edit."""
