package kube

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Memory a Fargate pod needs besides its containers (EKS user guide).
const (
	// FargateOverheadMiB is what Fargate adds to every pod's requests for the kubelet, kube-proxy and
	// containerd before it picks a size ("Fargate Pod configuration details").
	FargateOverheadMiB = 256
	// LogRouterMiB is left free for Fargate's log router, which the guide says to plan up to 50 MB for
	// ("Start AWS Fargate logging", size considerations).
	LogRouterMiB = 50
)

// fargateSizes lists, per vCPU in millicores, the pod memory sizes in MiB that EKS on Fargate offers.
var fargateSizes = map[int64][]int64{
	250:   {512, 1024, 2048},
	500:   gibRange(1, 4, 1),
	1000:  gibRange(2, 8, 1),
	2000:  gibRange(4, 16, 1),
	4000:  gibRange(8, 30, 1),
	8000:  gibRange(16, 60, 4),
	16000: gibRange(32, 120, 8),
}

// gibRange returns from, from+step, ... to GiB, in MiB.
func gibRange(from, to, step int64) []int64 {
	var sizes []int64
	for gib := from; gib <= to; gib += step {
		sizes = append(sizes, gib*1024)
	}
	return sizes
}

// FargateResources returns the gateway container's requests and limits for a pod that should be
// provisioned with exactly cpuMillicores and memoryMiB, which must be one of Fargate's sizes.
//
// Fargate sizes a pod from its requests plus FargateOverheadMiB and rounds up to the next size, so a
// container that asks for the whole size lands on the next one (1 vCPU and 2 GiB would become 1 vCPU and
// 3 GiB). The container therefore asks for the size less the overhead and less LogRouterMiB, which stays
// free for the log router. Limits equal requests: Fargate runs every pod with guaranteed quality of
// service and expects them to.
func FargateResources(cpuMillicores, memoryMiB int64) (corev1.ResourceRequirements, error) {
	sizes, ok := fargateSizes[cpuMillicores]
	if !ok {
		return corev1.ResourceRequirements{}, fmt.Errorf("pod CPU %dm is not a Fargate size: use 250, 500, 1000, 2000, 4000, 8000 or 16000 millicores", cpuMillicores)
	}
	valid := false
	for _, s := range sizes {
		valid = valid || s == memoryMiB
	}
	if !valid {
		return corev1.ResourceRequirements{}, fmt.Errorf("pod memory %d MiB is not a Fargate size for %dm CPU: use one of %v MiB", memoryMiB, cpuMillicores, sizes)
	}
	list := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewMilliQuantity(cpuMillicores, resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity((memoryMiB-FargateOverheadMiB-LogRouterMiB)*1024*1024, resource.BinarySI),
	}
	return corev1.ResourceRequirements{Requests: list, Limits: list.DeepCopy()}, nil
}
