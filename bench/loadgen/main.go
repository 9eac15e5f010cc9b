// loadgen: keep-alive HTTP/1.1 load on one path from many connections at once, its figures
// as one JSON object. Written in Go so that on a small machine the load generator's own CPU
// stays far below that of the server it measures.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type result struct {
	Requests int            `json:"requests"`
	Seconds  float64        `json:"seconds"`
	RPS      float64        `json:"rps"`
	P50Ms    float64        `json:"p50_ms"`
	P95Ms    float64        `json:"p95_ms"`
	Statuses map[string]int `json:"statuses"`
}

func main() {
	urls := flag.String("url", "", "server base URL; several, comma-separated, share the connections in turn")
	token := flag.String("token", "", "bearer token")
	mode := flag.String("mode", "get", "get: GET path until -seconds pass; post: POST -creates bodies")
	path := flag.String("path", "/", "request path")
	body := flag.String("body", "", "POST body; @INDEX@ becomes the request's number")
	connections := flag.Int("connections", 100, "requests in flight at once, one connection each")
	seconds := flag.Float64("seconds", 10, "duration of a get run")
	creates := flag.Int("creates", 0, "number of POSTs of a post run")
	caFile := flag.String("ca", "", "CA bundle for https")
	headers := flag.String("headers", "[]", "extra headers, a JSON list of [name, value] pairs")
	flag.Parse()

	var extra [][2]string
	if err := json.Unmarshal([]byte(*headers), &extra); err != nil {
		fail("-headers: a JSON list of [name, value] pairs is expected")
	}
	// HTTP/1.1 only (no HTTP/2 multiplexing): each worker holds its own connection.
	transport := &http.Transport{
		MaxIdleConns: *connections, MaxIdleConnsPerHost: *connections, MaxConnsPerHost: *connections,
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			fail("-ca: the file cannot be read")
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		transport.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	client := &http.Client{Transport: transport, Timeout: 120 * time.Second}

	var next atomic.Int64
	var mu sync.Mutex
	var latencies []time.Duration
	statuses := map[string]int{}
	deadline := time.Now().Add(time.Duration(*seconds * float64(time.Second)))

	bases := strings.Split(*urls, ",")
	worker := func(base string) {
		var mine []time.Duration
		counts := map[string]int{}
		for {
			var request *http.Request
			if *mode == "get" {
				if time.Now().After(deadline) {
					break
				}
				request, _ = http.NewRequest("GET", base+*path, nil)
			} else {
				index := next.Add(1) - 1
				if index >= int64(*creates) {
					break
				}
				payload := strings.ReplaceAll(*body, "@INDEX@", strconv.FormatInt(index, 10))
				request, _ = http.NewRequest("POST", base+*path, bytes.NewBufferString(payload))
			}
			request.Header.Set("Authorization", "Bearer "+*token)
			request.Header.Set("Accept", "application/json")
			request.Header.Set("Content-Type", "application/json")
			for _, pair := range extra {
				request.Header.Add(pair[0], pair[1])
			}
			started := time.Now()
			response, err := client.Do(request)
			status := "error"
			if err == nil {
				io.Copy(io.Discard, response.Body)
				response.Body.Close()
				status = strconv.Itoa(response.StatusCode)
			}
			mine = append(mine, time.Since(started))
			counts[status]++
		}
		mu.Lock()
		latencies = append(latencies, mine...)
		for status, n := range counts {
			statuses[status] += n
		}
		mu.Unlock()
	}

	started := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < *connections; i++ {
		wg.Add(1)
		go func(base string) { defer wg.Done(); worker(base) }(bases[i%len(bases)])
	}
	wg.Wait()
	elapsed := time.Since(started).Seconds()

	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	out := result{Requests: len(latencies), Seconds: elapsed, RPS: float64(len(latencies)) / elapsed, Statuses: statuses}
	if n := len(latencies); n > 0 {
		out.P50Ms = ms(latencies[n/2])
		out.P95Ms = ms(latencies[int(0.95*float64(n-1))])
	}
	encoded, _ := json.Marshal(out)
	fmt.Println(string(encoded))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func fail(message string) {
	fmt.Fprintln(os.Stderr, "loadgen: "+message)
	os.Exit(2)
}
