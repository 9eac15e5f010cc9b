"""PyFlink job: Kafka -> sliding windows -> tda_core -> Kafka."""
