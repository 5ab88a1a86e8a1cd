module pylstm.example/go

go 1.19
