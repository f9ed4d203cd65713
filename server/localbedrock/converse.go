package localbedrock

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// Sequenced audio: frames that carry their own sequence number, so that a test can tell which frames
// reached which stream, in what order, after the client switched streams. The number is written in the
// first 32 samples, one bit per sample (0 or 1: inaudible, and far below any speech detector); a speech
// frame carries a loud tone in the rest, a silent frame zeros.

// SequencedFrameBytes is the size of one sequenced frame: 512 samples, 32 ms at 16 kHz.
const SequencedFrameBytes = 1024

// SequencedFrame returns frame number seq, with speech or silence after the number.
func SequencedFrame(seq uint32, speech bool) []byte {
	pcm := make([]byte, SequencedFrameBytes)
	for bit := range 32 {
		binary.LittleEndian.PutUint16(pcm[2*bit:], uint16((seq>>bit)&1))
	}
	if speech {
		for i := 32; i < SequencedFrameBytes/2; i++ {
			v := int16(8000 * math.Sin(2*math.Pi*300*float64(i)/16000))
			binary.LittleEndian.PutUint16(pcm[2*i:], uint16(v))
		}
	}
	return pcm
}

// FrameSequence reads a sequenced frame's number and whether it carries speech; ok is false for
// audio that is not a whole sequenced frame.
func FrameSequence(pcm []byte) (seq uint32, speech, ok bool) {
	if len(pcm) != SequencedFrameBytes {
		return 0, false, false
	}
	for bit := range 32 {
		v := binary.LittleEndian.Uint16(pcm[2*bit:])
		if v > 1 {
			return 0, false, false
		}
		seq |= uint32(v) << bit
	}
	return seq, binary.LittleEndian.Uint16(pcm[2*100:]) != 0, true
}

// SequenceLabel is how Converse names a run of frames in its transcripts: "frames 40-59".
func SequenceLabel(first, last uint32) string { return fmt.Sprintf("frames %d-%d", first, last) }

// Converse is a scripted conversation for sequenced audio (SequencedFrame): every framesPerTurn speech
// frames it has received it answers with one turn. The USER FINAL transcript names the frames
// (SequenceLabel), the ASSISTANT SPECULATIVE and FINAL texts are "answer to " plus that label, and one
// 100 ms audioOutput is spoken in between, ending with END_TURN. Silent frames are received and not
// answered. The first answer is preceded by completionStart; promptEnd is answered with completionEnd.
// Each stream counts from zero: a client that switches streams mid-utterance loses the utterance's start,
// as it would with the real model.
func Converse(framesPerTurn int) Behavior {
	return func(ctx context.Context, s *Stream) error {
		sc := newScript(s)
		started := false
		var first, last uint32
		n := 0
		for {
			ev, err := sc.recv(ctx)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			switch ev.Name {
			case evPromptEnd:
				if err := sc.out.CompletionEnd(StopEndTurn); err != nil {
					return err
				}
			case evAudioInput:
				seq, speech, ok := FrameSequence(ev.Audio)
				if !ok || !speech {
					continue
				}
				if n == 0 {
					first = seq
				}
				last, n = seq, n+1
				if n < framesPerTurn {
					continue
				}
				n = 0
				if !started {
					started = true
					if err := sc.out.CompletionStart(); err != nil {
						return err
					}
				}
				if err := converseTurn(sc.out, SequenceLabel(first, last)); err != nil {
					return err
				}
			}
		}
	}
}

func converseTurn(o *Output, label string) error {
	answer := "answer to " + label
	if err := o.TextBlock(roleUser, StageFinal, label, StopPartialTurn); err != nil {
		return err
	}
	if err := o.TextBlock(roleAssistant, StageSpeculative, answer, StopPartialTurn); err != nil {
		return err
	}
	id, err := o.AudioStart()
	if err != nil {
		return err
	}
	if err := o.Audio(id, make([]byte, o.AudioChunkBytes())); err != nil {
		return err
	}
	if err := o.ContentEnd(id, typeAudio, StopEndTurn); err != nil {
		return err
	}
	if err := o.TextBlock(roleAssistant, StageFinal, answer, StopEndTurn); err != nil {
		return err
	}
	return o.UsageEvent()
}
