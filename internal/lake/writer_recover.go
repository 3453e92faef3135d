package lake

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Recovery: learning which stream sequences are already in objects, and
// removing the temporary files of an interrupted write. See the package
// comment for why reading only the partitions of the messages delivered
// is enough.

// layoutFileName is the file in Options.StateDir listing the prefixes
// this stream's objects have been written under. (Not in the lake: every
// file there is an object, which readers of the lake rely on.)
func layoutFileName(streamName string) string { return "lake-writer-" + streamName + ".json" }

// layoutFile is the layout file's content.
type layoutFile struct {
	Stream  string        `json:"stream"`
	Root    string        `json:"root"`    // the lake root, absolute
	Layouts []layoutEntry `json:"layouts"` // every layout used since the file exists, oldest first
}

type layoutEntry struct {
	Prefix      string `json:"prefix"`
	ErrorPrefix string `json:"error_prefix"`
}

// layout is one configuration of object keys, compiled.
type layout struct {
	prefixes [2]*Prefix
	// tails match what an object's file name may hold before
	// "<stream>-": the part of the prefix after its last '/'.
	tails [2]*regexp.Regexp
	// dirRandom: a random string before the last '/' of a prefix, so
	// that an object's directory cannot be computed from its time.
	dirRandom bool
}

// errTypes are the error output types either format writes (a format
// changed between runs puts error objects under the other one).
var errTypes = []string{ErrorProcessingFailed, ErrorFormatConversionFailed}

func compileLayout(e layoutEntry) (*layout, error) {
	l := &layout{}
	var err error
	if l.prefixes[outEvents], err = ParsePrefix(e.Prefix, false); err != nil {
		return nil, err
	}
	if l.prefixes[outErrors], err = ParsePrefix(e.ErrorPrefix, true); err != nil {
		return nil, err
	}
	for out, p := range l.prefixes {
		re, random := tailPattern(p)
		if l.tails[out], err = regexp.Compile(re); err != nil {
			return nil, fmt.Errorf("lake: prefix %q: %w", p.src, err)
		}
		l.dirRandom = l.dirRandom || random
	}
	return l, nil
}

// tailPattern returns a regular expression for the part of p's
// evaluations after their last '/' (which starts the object's file name),
// and whether a random string comes before that '/'.
func tailPattern(p *Prefix) (re string, dirRandom bool) {
	// The last '/' is in a literal (timestamp patterns' literal text is
	// compiled into literal parts too).
	start, lit := 0, ""
	for i := len(p.parts) - 1; i >= 0; i-- {
		if part := p.parts[i]; part.kind == partLiteral {
			if j := strings.LastIndexByte(part.lit, '/'); j >= 0 {
				start, lit = i+1, part.lit[j+1:]
				for _, q := range p.parts[:i] {
					dirRandom = dirRandom || q.kind == partRandom
				}
				break
			}
		}
	}
	var b strings.Builder
	b.WriteString("^")
	b.WriteString(regexp.QuoteMeta(lit))
	for _, part := range p.parts[start:] {
		switch part.kind {
		case partLiteral:
			b.WriteString(regexp.QuoteMeta(part.lit))
		case partYear:
			if part.width == 2 {
				b.WriteString("[0-9]{2}")
			} else {
				b.WriteString("[0-9]+")
			}
		case partMonth, partDay, partHour, partMinute, partSecond:
			if part.width == 1 {
				b.WriteString("[0-9]{1,2}")
			} else {
				b.WriteString("[0-9]{2}")
			}
		case partRandom:
			b.WriteString("[a-z0-9]{" + strconv.Itoa(randomLen) + "}")
		case partErrorType:
			b.WriteString("(?:" + regexp.QuoteMeta(ErrorProcessingFailed) + "|" + regexp.QuoteMeta(ErrorFormatConversionFailed) + ")")
		}
	}
	b.WriteString("$")
	return b.String(), dirRandom
}

// dir is the directory, relative to the root with / separators, holding
// the objects of out whose messages arrived at t ("" for the root).
func (l *layout) dir(out int, t time.Time, errType string) string {
	key := l.prefixes[out].partitionKey(t, errType)
	return key[:strings.LastIndexByte(key, '/')+1]
}

// recover reads the layout file and either walks the whole lake (no
// StateDir; no layout file yet: a lake written before it existed, or a
// new one; a prefix whose directories cannot be computed) or leaves the
// reading to scanPartitions, partition by partition as messages arrive.
// Then it records the current layout, before any object is written under
// it.
func (w *Writer) recover() error {
	w.opened = time.Now()
	cur := layoutEntry{Prefix: w.opts.Prefix, ErrorPrefix: w.opts.ErrorPrefix}
	if w.opts.StateDir == "" {
		l, err := compileLayout(cur)
		if err != nil {
			return err
		}
		w.layouts = []*layout{l}
		return w.walkAll()
	}
	root, err := filepath.Abs(w.opts.Dir)
	if err != nil {
		return fmt.Errorf("lake: %s: %w", w.opts.Dir, err)
	}
	lf, found, err := w.readLayoutFile(root)
	if err != nil {
		return err
	}
	known := false
	for _, e := range lf.Layouts {
		known = known || e == cur
	}
	if !known {
		lf.Layouts = append(lf.Layouts, cur)
	}
	full := !found
	for _, e := range lf.Layouts {
		l, err := compileLayout(e)
		if err != nil {
			// Written by a version that understood more: its directories
			// cannot be computed here.
			w.logger.Warn("lake: a former prefix cannot be read; reading the whole lake", "prefix", e.Prefix, "err", err)
			full = true
			continue
		}
		full = full || l.dirRandom
		w.layouts = append(w.layouts, l)
	}
	if full {
		if err := w.walkAll(); err != nil {
			return err
		}
	} else {
		w.lazy = true
		w.scanned = map[string]bool{}
	}
	if !found || !known {
		lf.Stream, lf.Root = w.opts.Stream, root
		if err := w.writeLayoutFile(lf); err != nil {
			return err
		}
	}
	return nil
}

func (w *Writer) readLayoutFile(root string) (lf layoutFile, found bool, err error) {
	p := filepath.Join(w.opts.StateDir, layoutFileName(w.opts.Stream))
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return layoutFile{}, false, nil
	}
	if err != nil {
		return layoutFile{}, false, fmt.Errorf("lake: read %s: %w", p, err)
	}
	if err := json.Unmarshal(b, &lf); err != nil {
		// Damaged: as if there were none (the whole lake is read, and the
		// file written again).
		w.logger.Warn("lake: layout file unreadable; reading the whole lake", "file", p, "err", err)
		return layoutFile{}, false, nil
	}
	if lf.Stream != w.opts.Stream || lf.Root != root {
		// Of another lake: it says nothing about this one.
		w.logger.Info("lake: layout file of another lake root; reading the whole lake", "file", p, "root", lf.Root)
		return layoutFile{}, false, nil
	}
	return lf, true, nil
}

// writeLayoutFile replaces the layout file atomically and durably.
func (w *Writer) writeLayoutFile(lf layoutFile) error {
	name := layoutFileName(w.opts.Stream)
	b, err := json.MarshalIndent(lf, "", "  ")
	if err != nil {
		return fmt.Errorf("lake: encode %s: %w", name, err)
	}
	dir := w.opts.StateDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("lake: create %s: %w", dir, err)
	}
	// Temporary files of an earlier attempt that crashed.
	old, _ := filepath.Glob(filepath.Join(dir, "."+name+tmpMarker+"*"))
	for _, p := range old {
		os.Remove(p)
	}
	f, err := os.CreateTemp(dir, "."+name+tmpMarker+"*")
	if err != nil {
		return fmt.Errorf("lake: create %s: %w", name, err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil && !w.opts.NoSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(dir, name))
	}
	if err == nil && !w.opts.NoSync {
		err = syncDir(dir)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("lake: write %s: %w", name, err)
	}
	return nil
}

// walkAll reads every object name under the root.
func (w *Writer) walkAll() error {
	removed := 0
	err := filepath.WalkDir(w.opts.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		r, err := w.note(p, d)
		if r {
			removed++
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("lake: scan %s: %w", w.opts.Dir, err)
	}
	if removed > 0 {
		w.logger.Info("lake: removed temporary files of an interrupted write", "files", removed)
	}
	return nil
}

// scanPartitions reads, once per writer, the directories that can hold
// objects of out with a message that arrived at t: one per layout (and
// error output type). Only in lazy mode.
func (w *Writer) scanPartitions(out int, t time.Time) error {
	c := w.keyCacheFor(out, t)
	if c.scanned {
		return nil
	}
	ets := errTypes[:1]
	if out == outErrors {
		ets = errTypes
	}
	for _, l := range w.layouts {
		for _, et := range ets {
			dir := l.dir(out, t, et)
			if w.scanned[dir] {
				continue
			}
			if err := w.scanDir(dir); err != nil {
				return err
			}
			w.scanned[dir] = true
		}
	}
	c.scanned = true
	return nil
}

func (w *Writer) scanDir(rel string) error {
	dir := filepath.Join(w.opts.Dir, filepath.FromSlash(rel))
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lake: read partition %s: %w", dir, err)
	}
	removed := 0
	for _, d := range ents {
		if d.IsDir() {
			continue
		}
		r, err := w.note(filepath.Join(dir, d.Name()), d)
		if err != nil {
			return fmt.Errorf("lake: read partition %s: %w", dir, err)
		}
		if r {
			removed++
		}
	}
	if removed > 0 {
		w.logger.Info("lake: removed temporary files of an interrupted write", "dir", dir, "files", removed)
	}
	return nil
}

// note learns from one file: an object of this stream's life adds its
// range to covered; a temporary file of this stream older than the writer
// (a crash during a write: its messages were not acknowledged and come
// again) is removed. Younger ones may be another member's write in flight.
func (w *Writer) note(p string, d fs.DirEntry) (removed bool, err error) {
	name := d.Name()
	if strings.HasPrefix(name, ".") {
		i := strings.LastIndex(name, tmpMarker)
		if i <= 0 {
			return false, nil
		}
		if _, _, _, _, ok := w.parseName(name[1:i]); !ok {
			return false, nil
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("stat %s: %w", p, err)
		}
		if info.ModTime().After(w.opened) {
			return false, nil
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("remove temporary file: %w", err)
		}
		return true, nil
	}
	// Objects of another life of the stream hold other events under the
	// same sequences.
	out, inc, first, last, ok := w.parseName(name)
	if !ok {
		return false, nil
	}
	if inc == "" && w.inc != "" {
		// Written before names carried lives: by this life if the file is
		// younger than the stream.
		info, err := d.Info()
		if err != nil {
			return false, fmt.Errorf("stat %s: %w", p, err)
		}
		if info.ModTime().Before(w.opts.StreamCreated) {
			return false, nil
		}
	} else if inc != w.inc {
		return false, nil
	}
	w.covered[out].add(first, last)
	return false, nil
}

// Object name extensions any configuration writes, the error output's
// first (".jsonl" ends ".errors.jsonl" too).
var objectExts = []struct {
	ext string
	out int
}{
	{".errors.jsonl.gz", outErrors},
	{".errors.jsonl", outErrors},
	{".jsonl.gz", outEvents},
	{".jsonl", outEvents},
	{".parquet", outEvents},
}

// parseName reads the file name of an object of this writer's stream:
// <tail><stream>-[<incarnation>-]<first>-<last><ext>, where tail is what
// the prefix puts after its last '/' (nothing for the default prefixes),
// with any extension any configuration writes (so a format change keeps
// redelivery idempotent). inc is the name's incarnation, "" for names
// without one.
func (w *Writer) parseName(name string) (out int, inc string, first, last uint64, ok bool) {
	base := ""
	for _, e := range objectExts {
		if b, found := strings.CutSuffix(name, e.ext); found {
			base, out = b, e.out
			break
		}
	}
	// -<first>-<last>
	const seqs = 1 + 20 + 1 + 20
	if len(base) < seqs || base[len(base)-seqs] != '-' || base[len(base)-21] != '-' {
		return 0, "", 0, 0, false
	}
	f, err1 := strconv.ParseUint(base[len(base)-41:len(base)-21], 10, 64)
	l, err2 := strconv.ParseUint(base[len(base)-20:], 10, 64)
	if err1 != nil || err2 != nil || f > l {
		return 0, "", 0, 0, false
	}
	rest := base[:len(base)-seqs]
	// rest is <tail><stream>[-<incarnation>]: this life's names first,
	// then names without a life, then other lives' (whose temporary files
	// are removed too).
	try := func(suffix, in string) bool {
		tail, found := strings.CutSuffix(rest, suffix)
		if found && (tail == "" || w.tailOK(out, tail)) {
			inc, ok = in, true
		}
		return ok
	}
	if w.inc != "" && try(w.opts.Stream+"-"+w.inc, w.inc) || try(w.opts.Stream, "") {
		return out, inc, f, l, true
	}
	if i := strings.LastIndexByte(rest, '-'); i >= 0 && validIncarnation(rest[i+1:]) && try(w.opts.Stream+rest[i:], rest[i+1:]) {
		return out, inc, f, l, true
	}
	return 0, "", 0, 0, false
}

// tailOK reports whether a layout's prefix of out can end its evaluation
// (after the last '/') with tail.
func (w *Writer) tailOK(out int, tail string) bool {
	for _, l := range w.layouts {
		if l.tails[out].MatchString(tail) {
			return true
		}
	}
	return false
}
