"""Kubernetes dress rehearsal: run the pods the rendered chart describes, for real, without a cluster.

``python -m deploy.rehearsal`` (``make k8s-rehearsal``) renders ``charts/modelyard`` with the kind
values, then plays the parts a cluster would: KServe's controller (injected arguments, the
ServingRuntime merge, the storage initializer, the predictor and transformer Services), the
kubelet (one network namespace and IP per pod, Secrets, ConfigMaps and volumes materialised,
service links, every probe as declared) and kube-proxy (Service names and ports). Then it queries
every model through the gateway's Service and prints one table. See docs/kubernetes.md.

Modules: ``manifests`` (helm), ``podspec`` (Kubernetes pod semantics), ``kserve`` and ``kuberay``
(what their controllers add), ``workloads`` (the pods to run), ``network`` (namespaces, veths,
Service names), ``proxy`` (Service ports), ``cgroups`` (memory limits), ``runtime`` (venv or
podman), ``podinit`` (inside a pod: volumes, then exec), ``kubelet`` (start, probe, watch), ``seed``
(the registry and model store), ``queries``, ``report`` and ``run`` (the whole rehearsal).
"""
