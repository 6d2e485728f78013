"""The kit's Flower workshop app: FedAvg across hospitals, one participant laptop each."""
