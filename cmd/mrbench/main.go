// Command mrbench measures mediarepo's building blocks against real
// services. Usage:
//
//	mrbench <command> [flags]
//
// Each command lives in its own file and is listed in commands; run
// `mrbench <command> -h` for its flags.
package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
)

// command is one subcommand: run gets the arguments after its name and
// returns the process exit code.
type command struct {
	summary string
	run     func(args []string) int
	hidden  bool // internal helpers (child processes), not listed
}

// commands maps names to subcommands. Add new ones here.
var commands = map[string]command{
	"store":           {summary: "raw minio-go vs sealed S3 PUT/GET throughput and upload memory", run: runStore},
	storeChildCommand: {run: runStoreChild, hidden: true},
	"http":            {summary: "mediarepo's HTTP API (S3 and fs) vs raw minio-go: small uploads/s, large MB/s, peak RSS", run: runHTTP},
	"scale":           {summary: "the catalog at N records per backend: inserts, disk, restart, RSS, officers' pages, reconciler pass", run: runScale},
	scaleChildCommand: {run: runScaleChild, hidden: true},
	"profile":         {summary: "CPU, allocation and wall-time (goroutine) profiles of mediarepo on S3 under small and 1 MB loads", run: runProfile},
	"uploads":         {summary: "small uploads through mediarepo on fs with the KV and the PostgreSQL catalog, same run", run: runUploads},
	"burst":           {summary: "RSS of a fresh mediarepo before, during and after a burst of small uploads", run: runBurst},
	"servable":        {summary: "upload to servable: a 1 MB image from its first byte to a waiting download's 200, beside clamd's own scan", run: runServable},
	"downloadab":      {summary: "downloads on S3 of several mediarepo binaries and raw minio-go, interleaved round by round, with each process's CPU time", run: runDownloadAB},
	"uploadab":        {summary: "uploads on S3 (KV and PostgreSQL catalogs) of several mediarepo binaries and raw minio-go PUTs, interleaved round by round, with each process's CPU time", run: runUploadAB},
	"fsdownload":      {summary: "large downloads on the filesystem store vs a raw file server and a bare decrypting server, same run", run: runFSDownload},
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "help" {
		usage()
		return 2
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "mrbench: unknown command %q\n", args[0])
		usage()
		return 2
	}
	return cmd.run(args[1:])
}

func usage() {
	var lines []string
	for name, c := range commands {
		if !c.hidden {
			lines = append(lines, fmt.Sprintf("  %-10s %s", name, c.summary))
		}
	}
	slices.Sort(lines)
	fmt.Fprintf(os.Stderr, "usage: mrbench <command> [flags]\n\ncommands:\n%s\n", strings.Join(lines, "\n"))
}
