"""Generated protobuf code (paycore.v1) and the Python client (paycore.client)."""
