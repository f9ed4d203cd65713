package e2e

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The fake microphone: Chromium reads a WAV file (--use-file-for-fake-audio-capture) and loops it. The
// simulated Nova Sonic (server/localbedrock) finds turns by energy: at least 300 ms of speech above about
// -34 dBFS, then a pause of 0.85 s (MEDIUM endpointing). Its answer is the user's own utterance played
// back, so what the page plays is this signal again.

// wavRate is the fake microphone's sample rate: 48 kHz, what a real headset delivers, so the capture
// worklet's resampler to 16 kHz is part of what runs.
const wavRate = 48000

// segment is one part of the fake microphone's script: speech for speak, or silence.
type segment struct {
	speak bool
	d     time.Duration
}

func speech(d time.Duration) segment { return segment{speak: true, d: d} }
func pause(d time.Duration) segment  { return segment{d: d} }

// writeSpeechWAV writes the script as a 16-bit mono WAV in dir and returns its path.
//
// The speech is voice-like rather than a pure tone, because the browser's noise suppression learns a steady
// tone as noise and fades it out: a glottal-pulse-like harmonic series (fundamental gliding 110-170 Hz),
// shaped by two fixed formant-like peaks, and cut into syllables of about 220 ms. Its level is about
// -24 dBFS RMS with peaks near -11 dBFS: ordinary speech into a headset, 10 dB above the simulator's
// detection threshold before the browser's automatic gain control raises it. Silence carries a -70 dBFS
// noise floor, as a real microphone does.
func writeSpeechWAV(t *testing.T, dir, name string, script []segment) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2)) // the same file every run
	var samples []int16
	for _, seg := range script {
		n := int(seg.d.Seconds() * wavRate)
		for i := range n {
			v := 0.0003 * (rng.Float64()*2 - 1)
			if seg.speak {
				v += voice(float64(i) / wavRate)
			}
			samples = append(samples, int16(math.Round(max(-1, min(1, v))*math.MaxInt16)))
		}
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, wav(samples, wavRate), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// voice is the speech signal at time s (seconds) into a burst.
func voice(s float64) float64 {
	const syllable = 0.22 // seconds
	pos := math.Mod(s, syllable) / syllable
	// Raised-cosine syllable envelope with a short gap between syllables, as between spoken syllables.
	env := 0.0
	if pos < 0.85 {
		env = 0.5 - 0.5*math.Cos(2*math.Pi*pos/0.85)
	}
	n := math.Floor(s / syllable)
	f0 := 110 + 60*math.Mod(n*0.37, 1) + 20*pos // a different pitch per syllable, gliding up
	v := 0.0
	for k := 1.0; k <= 20; k++ {
		f := k * f0
		// Two formant-like peaks (about 600 Hz and 1700 Hz) over a -6 dB/octave source.
		gain := (1 / k) * (0.3 + math.Exp(-math.Pow((f-600)/250, 2)) + 0.6*math.Exp(-math.Pow((f-1700)/400, 2)))
		v += gain * math.Sin(2*math.Pi*f*s)
	}
	return 0.22 * env * v
}

// wav encodes 16-bit little-endian mono PCM as a RIFF WAVE file.
func wav(samples []int16, rate int) []byte {
	data := len(samples) * 2
	b := make([]byte, 0, 44+data)
	b = append(b, "RIFF"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(36+data))
	b = append(b, "WAVEfmt "...)
	b = binary.LittleEndian.AppendUint32(b, 16) // fmt chunk size
	b = binary.LittleEndian.AppendUint16(b, 1)  // PCM
	b = binary.LittleEndian.AppendUint16(b, 1)  // mono
	b = binary.LittleEndian.AppendUint32(b, uint32(rate))
	b = binary.LittleEndian.AppendUint32(b, uint32(rate*2)) // bytes per second
	b = binary.LittleEndian.AppendUint16(b, 2)              // block align
	b = binary.LittleEndian.AppendUint16(b, 16)             // bits per sample
	b = append(b, "data"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(data))
	for _, s := range samples {
		b = binary.LittleEndian.AppendUint16(b, uint16(s))
	}
	return b
}

// TestSpeechWAV checks the fake microphone's file: the WAV header, the script's timing, and levels that
// the simulator's energy detector hears as speech (above -34 dBFS) and as silence (below -40 dBFS).
func TestSpeechWAV(t *testing.T) {
	path := writeSpeechWAV(t, t.TempDir(), "test.wav", []segment{pause(500 * time.Millisecond), speech(time.Second), pause(time.Second)})
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b[0:4]) != "RIFF" || string(b[8:16]) != "WAVEfmt " || string(b[36:40]) != "data" ||
		binary.LittleEndian.Uint16(b[20:]) != 1 || binary.LittleEndian.Uint16(b[22:]) != 1 ||
		binary.LittleEndian.Uint32(b[24:]) != wavRate || binary.LittleEndian.Uint16(b[34:]) != 16 ||
		int(binary.LittleEndian.Uint32(b[4:])) != len(b)-8 || int(binary.LittleEndian.Uint32(b[40:])) != len(b)-44 {
		t.Fatalf("not a 16-bit mono %d Hz PCM WAV: header % x", wavRate, b[:44])
	}
	samples := make([]float64, (len(b)-44)/2)
	for i := range samples {
		samples[i] = float64(int16(binary.LittleEndian.Uint16(b[44+2*i:]))) / math.MaxInt16
	}
	if len(samples) != 5*wavRate/2 {
		t.Fatalf("%d samples, want 2.5 s at %d Hz", len(samples), wavRate)
	}
	dBFS := func(from, to time.Duration) (rms, peak float64) {
		var sum float64
		part := samples[int(from.Seconds()*wavRate):int(to.Seconds()*wavRate)]
		for _, v := range part {
			sum += v * v
			peak = max(peak, math.Abs(v))
		}
		return 20 * math.Log10(math.Sqrt(sum/float64(len(part)))), 20 * math.Log10(peak)
	}
	speechRMS, speechPeak := dBFS(500*time.Millisecond, 1500*time.Millisecond)
	silenceRMS, _ := dBFS(0, 500*time.Millisecond)
	trailingRMS, _ := dBFS(1500*time.Millisecond, 2500*time.Millisecond)
	if speechRMS < -30 || speechRMS > -18 || speechPeak > -6 {
		t.Errorf("speech at %.1f dBFS RMS, peak %.1f dBFS: want -30..-18 dBFS, peak under -6 dBFS", speechRMS, speechPeak)
	}
	if silenceRMS > -60 || trailingRMS > -60 {
		t.Errorf("pauses at %.1f and %.1f dBFS, want under -60 dBFS", silenceRMS, trailingRMS)
	}
	t.Logf("speech %.1f dBFS RMS (peak %.1f dBFS), pauses %.1f dBFS", speechRMS, speechPeak, silenceRMS)
}
