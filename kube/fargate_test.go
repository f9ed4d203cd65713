package kube

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestFargateResourcesLeaveRoomForFargatesOverheadAndTheLogRouter(t *testing.T) {
	tests := map[string]struct {
		cpuMillicores, memoryMiB int64
		wantCPU, wantMemory      string
	}{
		"1 vCPU, 2 GB (the default)": {1000, 2048, "1", "1742Mi"},
		"smallest":                   {250, 512, "250m", "206Mi"},
		"0.5 vCPU, 4 GB":             {500, 4096, "500m", "3790Mi"},
		"4 vCPU, 30 GB":              {4000, 30720, "4", "30414Mi"},
		"16 vCPU, 120 GB":            {16000, 122880, "16", "122574Mi"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := FargateResources(tt.cpuMillicores, tt.memoryMiB)
			if err != nil {
				t.Fatal(err)
			}
			for _, list := range []corev1.ResourceList{got.Requests, got.Limits} {
				if cpu, mem := list[corev1.ResourceCPU], list[corev1.ResourceMemory]; cpu.String() != tt.wantCPU || mem.String() != tt.wantMemory || len(list) != 2 {
					t.Fatalf("resources = %v, want cpu %s and memory %s as both requests and limits", got, tt.wantCPU, tt.wantMemory)
				}
			}
		})
	}
}

func TestFargateResourcesRejectSizesFargateDoesNotOffer(t *testing.T) {
	tests := map[string]struct{ cpuMillicores, memoryMiB int64 }{
		"odd CPU":                      {750, 2048},
		"memory too large for 0.25":    {250, 4096},
		"memory too small for 1 vCPU":  {1000, 1024},
		"not a whole GB for 2 vCPU":    {2000, 4608},
		"8 vCPU in 1 GB steps":         {8000, 17408},
		"memory beyond the 4 vCPU cap": {4000, 31744},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := FargateResources(tt.cpuMillicores, tt.memoryMiB); err == nil {
				t.Fatalf("FargateResources(%d, %d) accepted a size Fargate does not offer", tt.cpuMillicores, tt.memoryMiB)
			}
		})
	}
}
