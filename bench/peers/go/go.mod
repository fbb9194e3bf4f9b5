module shade-bench/peers/go

go 1.19
