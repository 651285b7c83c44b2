// Command opensearchtest serves the OpenSearch 2.x-faithful test server
// (package internal/opensearchtest) on a TCP address, for trying the
// OpenSearch sink without an OpenSearch cluster. Data lives in memory and
// is lost on exit.
//
//	go run ./internal/opensearchtest/cmd/opensearchtest -listen 127.0.0.1:9200 [-item-429 0.2] [-request-429 0.05] [-delay 50ms]
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/sluicehq/sluice/internal/opensearchtest"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9200", "address to listen on")
	var f opensearchtest.Faults
	flag.Float64Var(&f.ItemReject429, "item-429", 0, "probability that a bulk item is rejected with 429")
	flag.Float64Var(&f.Request429, "request-429", 0, "probability that a whole _bulk request is rejected with 429")
	flag.Float64Var(&f.Request503, "request-503", 0, "probability that a whole _bulk request fails with 503")
	flag.Float64Var(&f.Reset, "reset", 0, "probability that a _bulk connection is reset")
	flag.DurationVar(&f.Delay, "delay", 0, "delay added to every _bulk response")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "opensearchtest: unexpected arguments %v\n", flag.Args())
		os.Exit(2)
	}
	srv := opensearchtest.New(opensearchtest.WithFaults(f))
	fmt.Printf("opensearchtest %s listening on http://%s\n", opensearchtest.Version, *listen)
	log.Fatal(http.ListenAndServe(*listen, srv))
}
