"""Drives ferrokube with the official Python client: list, create, read, watch, error, delete.

Usage: python_client.py KUBECONFIG. Prints one line per check; exits non-zero on a mismatch.
"""
import sys

from kubernetes import client, config, watch


def main(kubeconfig):
    config.load_kube_config(kubeconfig)
    v1 = client.CoreV1Api()
    names = [n.metadata.name for n in v1.list_namespace().items]
    assert "kube-system" in names, names
    print("namespaces ok")

    cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py-cm", labels={"app": "py"}), data={"a": "b"})
    created = v1.create_namespaced_config_map("default", cm)
    assert created.metadata.uid, created
    got = v1.read_namespaced_config_map("py-cm", "default")
    assert got.data == {"a": "b"}, got.data
    print("create/read ok")

    seen = []
    w = watch.Watch()
    for ev in w.stream(v1.list_namespaced_config_map, "default", label_selector="app=py", timeout_seconds=2):
        seen.append((ev["type"], ev["object"].metadata.name))
    assert seen == [("ADDED", "py-cm")], seen
    print("watch ok")

    try:
        v1.read_namespaced_config_map("nope", "default")
        raise AssertionError("expected a 404")
    except client.exceptions.ApiException as e:
        assert e.status == 404, e.status
    print("not found ok")

    status = v1.delete_namespaced_config_map("py-cm", "default")
    # Recent clients hand back the Status as a plain dict.
    outcome = status["status"] if isinstance(status, dict) else status.status
    assert outcome == "Success", status
    print("delete ok")


if __name__ == "__main__":
    main(sys.argv[1])
