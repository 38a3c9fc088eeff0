module github.com/hotzfs/hotzfs

go 1.24.0
