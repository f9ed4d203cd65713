package localbedrock

import (
	"encoding/binary"
	"math"
	"time"
)

// All audio here is Nova's LPCM: signed 16-bit little-endian mono.

// TonePCM returns a sine tone of hz at sampleRate lasting d, with peak amplitude in [0, 1]
// of full scale. An amplitude of 0.3 reads as clear speech to the simulator's energy detector.
func TonePCM(hz float64, d time.Duration, sampleRate int, amplitude float64) []byte {
	n := samplesIn(d, sampleRate)
	pcm := make([]byte, 2*n)
	for i := range n {
		v := amplitude * math.Sin(2*math.Pi*hz*float64(i)/float64(sampleRate))
		binary.LittleEndian.PutUint16(pcm[2*i:], uint16(int16(v*math.MaxInt16)))
	}
	return pcm
}

// SilencePCM returns d of digital silence at sampleRate.
func SilencePCM(d time.Duration, sampleRate int) []byte {
	return make([]byte, 2*samplesIn(d, sampleRate))
}

// PCMDuration is how long pcm plays at sampleRate.
func PCMDuration(pcm []byte, sampleRate int) time.Duration {
	if sampleRate == 0 {
		return 0
	}
	return time.Duration(len(pcm)/2) * time.Second / time.Duration(sampleRate)
}

func samplesIn(d time.Duration, sampleRate int) int {
	return int(d * time.Duration(sampleRate) / time.Second)
}

// rms is the root mean square of pcm as a fraction of full scale.
func rms(pcm []byte) float64 {
	n := len(pcm) / 2
	if n == 0 {
		return 0
	}
	var sum float64
	for i := range n {
		v := float64(int16(binary.LittleEndian.Uint16(pcm[2*i:]))) / math.MaxInt16
		sum += v * v
	}
	return math.Sqrt(sum / float64(n))
}

// resample converts pcm from one sample rate to another by linear interpolation: plenty for a
// person to recognise their own voice, and allocation-free beyond the result.
func resample(pcm []byte, from, to int) []byte {
	if from == to || len(pcm) < 4 {
		return append([]byte(nil), pcm...)
	}
	in := len(pcm) / 2
	out := in * to / from
	dst := make([]byte, 2*out)
	sample := func(i int) float64 { return float64(int16(binary.LittleEndian.Uint16(pcm[2*i:]))) }
	for j := range out {
		pos := float64(j) * float64(from) / float64(to)
		i := int(pos)
		frac := pos - float64(i)
		v := sample(i)
		if i+1 < in {
			v += (sample(i+1) - v) * frac
		}
		binary.LittleEndian.PutUint16(dst[2*j:], uint16(int16(math.Round(v))))
	}
	return dst
}
