// Loads the model Python saved, runs the reference batch and compares with
// Python's y, h_n and c_n (the layout is described in
// examples/make_reference.py). Exits 1 if the largest absolute difference is
// above 1e-5 or anything fails.
//
//	PKG_CONFIG_PATH=<prefix>/lib/pkgconfig go run . [model.safetensors [reference.txt]]
package main

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

func readReference(path string) (map[string][]float64, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tokens []string
	for _, line := range strings.Split(string(text), "\n") {
		if !strings.HasPrefix(line, "#") {
			tokens = append(tokens, strings.Fields(line)...)
		}
	}
	records := map[string][]float64{}
	for k := 0; k < len(tokens); {
		name := tokens[k]
		if k+1 >= len(tokens) {
			return nil, fmt.Errorf("record %s: no count", name)
		}
		n, err := strconv.Atoi(tokens[k+1])
		if err != nil || n < 0 || k+2+n > len(tokens) {
			return nil, fmt.Errorf("record %s: bad count or too few numbers", name)
		}
		values := make([]float64, n)
		for j := range values {
			if values[j], err = strconv.ParseFloat(tokens[k+2+j], 64); err != nil {
				return nil, fmt.Errorf("record %s: %v", name, err)
			}
		}
		records[name] = values
		k += 2 + n
	}
	return records, nil
}

// maxAbsDiff is NaN-safe: a NaN difference makes it NaN, which fails the check.
func maxAbsDiff(got []float32, want []float64) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	worst := 0.0
	for k := range got {
		if d := math.Abs(float64(got[k]) - want[k]); !(d <= worst) {
			worst = d
		}
	}
	return worst
}

func run(modelPath, refPath string) (bool, error) {
	m, err := Load(modelPath)
	if err != nil {
		return false, err
	}
	defer m.Close()
	c := m.Config
	fmt.Printf("pylstm %s: LSTM(%d, %d, num_layers=%d, bidirectional=%v, proj_size=%d) from %s\n",
		Version(), c.InputSize, c.HiddenSize, c.NumLayers, c.Bidirectional, c.ProjSize, modelPath)

	r, err := readReference(refPath)
	if err != nil {
		return false, err
	}
	for _, name := range []string{"dims", "lengths", "x", "y", "h_n", "c_n"} {
		if _, ok := r[name]; !ok {
			return false, fmt.Errorf("reference: no record %s", name)
		}
	}
	T, B := int(r["dims"][0]), int(r["dims"][1])
	lengths := make([]int64, len(r["lengths"]))
	for k, v := range r["lengths"] {
		lengths[k] = int64(v)
	}
	x := make([]float32, len(r["x"]))
	for k, v := range r["x"] {
		x[k] = float32(v)
	}
	out, err := m.RunF32(x, T, B, lengths)
	if err != nil {
		return false, err
	}

	width := c.Directions() * c.StateSize()
	fmt.Printf("output y (T=%d, B=%d, %d), lengths %v:\n", T, B, width, lengths)
	for t := 0; t < T; t++ {
		fmt.Printf("  t=%d:", t)
		for _, v := range out.Y[t*B*width : (t+1)*B*width] {
			fmt.Printf(" %9.6f", v)
		}
		fmt.Println()
	}
	ey, eh, ec := maxAbsDiff(out.Y, r["y"]), maxAbsDiff(out.HN, r["h_n"]), maxAbsDiff(out.CN, r["c_n"])
	fmt.Printf("max abs error vs Python: y %.3g, h_n %.3g, c_n %.3g\n", ey, eh, ec)
	return ey <= 1e-5 && eh <= 1e-5 && ec <= 1e-5, nil
}

func main() {
	modelPath, refPath := "../data/model.safetensors", "../data/reference.txt"
	if len(os.Args) > 1 {
		modelPath = os.Args[1]
	}
	if len(os.Args) > 2 {
		refPath = os.Args[2]
	}
	ok, err := run(modelPath, refPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	if !ok {
		fmt.Println("FAILED: above 1e-5")
		os.Exit(1)
	}
	fmt.Println("OK")
}
