"""``hardbox gate --k8s``: Kubernetes manifests read with their lines (``manifests``), the Pod
Security Standards controls and hardbox's own (``controls``), and the gate rules over them
(``rules``)."""
