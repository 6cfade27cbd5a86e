module github.com/tasky-ops/tasky

go 1.19
