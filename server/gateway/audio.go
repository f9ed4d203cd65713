package gateway

import "encoding/binary"

// speechLevel is the RMS amplitude (of 32767) below which the gateway counts a frame of the user's audio
// as silence: about -46 dBFS, above a browser microphone's noise floor after noise suppression
// (-60 to -50 dBFS) and well below speech (-30 to -10 dBFS).
const speechLevel = 164

// isLoud reports whether 16-bit little-endian PCM has an RMS amplitude above speechLevel.
func isLoud(pcm []byte) bool {
	n := len(pcm) / 2
	if n == 0 {
		return false
	}
	var sum int64
	for i := 0; i < n; i++ {
		v := int64(int16(binary.LittleEndian.Uint16(pcm[2*i:])))
		sum += v * v
	}
	return sum > int64(speechLevel)*int64(speechLevel)*int64(n)
}
