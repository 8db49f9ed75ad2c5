package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"

	"github.com/mediarepo/mediarepo/internal/app"
	"github.com/mediarepo/mediarepo/internal/config"
	"github.com/mediarepo/mediarepo/internal/importer"
)

const importUsage = `usage: mediarepo import synapse|dendrite --database DSN|FILE --media-store DIR [flags]

Imports a homeserver's media under its original mxc:// URIs. Every file is
stored sealed and scanned like an upload; nothing is served before its
verdict. The homeserver's database and files are only read. Run it again
to continue after an interruption: media already imported is skipped.

  synapse   --database: Synapse's PostgreSQL DSN or homeserver.db
            --media-store: its media_store_path
  dendrite  --database: Dendrite's media API PostgreSQL DSN or SQLite file
            --media-store: its media_api.base_path

Flags:
`

// runImport is `mediarepo import KIND [flags]`; it returns the exit code.
func runImport(ctx context.Context, args []string, log *slog.Logger) int {
	if len(args) == 0 || (args[0] != "synapse" && args[0] != "dendrite") {
		fmt.Fprint(os.Stderr, importUsage)
		return 2
	}
	kind := args[0]
	fs := flag.NewFlagSet("mediarepo import "+kind, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, importUsage); fs.PrintDefaults() }
	configPath := fs.String("config", os.Getenv("MEDIAREPO_CONFIG"), "mediarepo's YAML configuration file (empty: the embedded default)")
	database := fs.String("database", "", "the homeserver's database: a PostgreSQL DSN (postgres://…) or an SQLite file (required)")
	store := fs.String("media-store", "", "the homeserver's media store directory (required)")
	serverName := fs.String("server-name", "", "the homeserver's server name (default: mediarepo's only server name)")
	dryRun := fs.Bool("dry-run", false, "check and count every row and file; store nothing")
	concurrency := fs.Int("concurrency", 4, "files stored at once")
	noProgress := fs.Bool("no-progress", false, "no progress bar")
	asJSON := fs.Bool("json", false, "print the final report as JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *database == "" || *store == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	cfg, err := config.Load(*configPath, os.Getenv)
	if err != nil {
		log.Error("configuration", "err", err)
		return 1
	}
	imp, err := app.NewImporter(ctx, cfg, log)
	if err != nil {
		log.Error("starting the import", "err", err)
		return 1
	}
	defer imp.Close()
	name, err := pickServerName(*serverName, imp.ServerNames())
	if err != nil {
		log.Error("server name", "err", err)
		return 2
	}
	db, err := importer.OpenDB(ctx, *database)
	if err != nil {
		log.Error("the homeserver's database", "err", err)
		return 1
	}
	defer db.Close()
	var src importer.Source
	if kind == "synapse" {
		src, err = importer.NewSynapse(db, name, *store)
	} else {
		src, err = importer.NewDendrite(db, name, *store)
	}
	if err != nil {
		log.Error("source", "err", err)
		return 1
	}
	opts := importer.Options{DryRun: *dryRun, Concurrency: *concurrency}
	if !*noProgress {
		opts.Progress = importer.NewBar(os.Stderr)
	}
	rep, err := importer.Run(ctx, src, imp.Deps, opts)
	printReport(os.Stdout, rep, *asJSON)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			log.Warn("import interrupted; run the same command again to continue", "err", err)
		} else {
			log.Error("import stopped; run the same command again to continue", "err", err)
		}
		return 1
	}
	return 0
}

// pickServerName returns the homeserver's server name: the flag, which
// must be one mediarepo serves (else the imported media would be taken for
// another server's), or mediarepo's only one.
func pickServerName(flagged string, served []string) (string, error) {
	if flagged == "" {
		if len(served) != 1 {
			return "", fmt.Errorf("mediarepo serves %d server names: say which one with --server-name", len(served))
		}
		return served[0], nil
	}
	if !slices.Contains(served, flagged) {
		return "", fmt.Errorf("--server-name %s is not one of mediarepo's server_names %v", flagged, served)
	}
	return flagged, nil
}

func printReport(w io.Writer, rep importer.Report, asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep) // stdout
		return
	}
	fmt.Fprint(w, rep.String())
}
