module tda-platform/bench/loadgen

go 1.22
