// Command hostpath-provisioner is the test cluster's dynamic provisioner: it runs on the single node (as a
// host process next to the kubelet), creates a directory for each pending PVC of its StorageClass and a
// hostPath PV bound to it, and removes both when a Delete-policy PV is released. It polls instead of
// using informers: one node, a few claims, and far less code to trust.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const provisionedBy = "pv.kubernetes.io/provisioned-by"

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster")
	root := flag.String("root", "/var/lib/flarekube-cluster/volumes", "directory holding the volumes")
	name := flag.String("provisioner", "flarekube.local/hostpath", "provisioner name in the StorageClass")
	flag.Parse()
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		log.Fatalf("kubeconfig: %v", err)
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	if err := os.MkdirAll(*root, 0o755); err != nil {
		log.Fatalf("volume root: %v", err)
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if err := provision(ctx, cs, *root, *name); err != nil {
			log.Printf("provision: %v", err)
		}
		if err := reclaim(ctx, cs, *name); err != nil {
			log.Printf("reclaim: %v", err)
		}
		cancel()
		time.Sleep(2 * time.Second)
	}
}

func provision(ctx context.Context, cs *kubernetes.Clientset, root, name string) error {
	classes, err := cs.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	ours := map[string]bool{}
	for _, sc := range classes.Items {
		if sc.Provisioner == name {
			ours[sc.Name] = true
		}
	}
	claims, err := cs.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range claims.Items {
		pvc := &claims.Items[i]
		if pvc.Status.Phase != corev1.ClaimPending || pvc.Spec.VolumeName != "" ||
			pvc.Spec.StorageClassName == nil || !ours[*pvc.Spec.StorageClassName] {
			continue
		}
		pvName := fmt.Sprintf("pvc-%s", pvc.UID)
		dir := filepath.Join(root, pvName)
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return err
		}
		// World-writable so that pods running as any non-root user can use the volume.
		if err := os.Chmod(dir, 0o777); err != nil {
			return err
		}
		policy := corev1.PersistentVolumeReclaimDelete
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: pvName, Annotations: map[string]string{provisionedBy: name}},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
				AccessModes:                   pvc.Spec.AccessModes,
				PersistentVolumeReclaimPolicy: policy,
				StorageClassName:              *pvc.Spec.StorageClassName,
				VolumeMode:                    pvc.Spec.VolumeMode,
				ClaimRef: &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: pvc.Namespace,
					Name: pvc.Name, UID: pvc.UID, APIVersion: "v1"},
				PersistentVolumeSource: corev1.PersistentVolumeSource{
					HostPath: &corev1.HostPathVolumeSource{Path: dir}},
			},
		}
		if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil &&
			!apierrors.IsAlreadyExists(err) {
			return err
		}
		log.Printf("provisioned %s for %s/%s", pvName, pvc.Namespace, pvc.Name)
	}
	return nil
}

func reclaim(ctx context.Context, cs *kubernetes.Clientset, name string) error {
	pvs, err := cs.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, pv := range pvs.Items {
		if pv.Annotations[provisionedBy] != name || pv.Status.Phase != corev1.VolumeReleased ||
			pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || pv.Spec.HostPath == nil {
			continue
		}
		if err := os.RemoveAll(pv.Spec.HostPath.Path); err != nil {
			return err
		}
		if err := cs.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{}); err != nil &&
			!apierrors.IsNotFound(err) {
			return err
		}
		log.Printf("deleted %s", pv.Name)
	}
	return nil
}
