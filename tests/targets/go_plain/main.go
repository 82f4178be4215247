// go_plain: a Go program without net/http (the Go probe must say it has nothing to trace).
package main

import (
	"fmt"
	"os"
	"time"
)

func main() {
	fmt.Println("READY")
	os.Stdout.Sync()
	time.Sleep(time.Hour)
}
