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

    apps = client.AppsV1Api()
    container = client.V1Container(name="app", image="nginx", env=[client.V1EnvVar(name="A", value="1")])
    deployment = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="py-deploy"),
        spec=client.V1DeploymentSpec(
            selector=client.V1LabelSelector(match_labels={"app": "py"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "py"}),
                spec=client.V1PodSpec(containers=[container]),
            ),
        ),
    )
    apps.create_namespaced_deployment("default", deployment)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "env": [{"name": "B", "value": "2"}]}]}}}}
    patched = apps.patch_namespaced_deployment(
        "py-deploy", "default", patch, _content_type="application/strategic-merge-patch+json"
    )
    env = [(e.name, e.value) for e in patched.spec.template.spec.containers[0].env]
    assert env == [("A", "1"), ("B", "2")], env
    print("strategic merge patch ok")

    applied = apps.patch_namespaced_deployment(
        "py-deploy",
        "default",
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "py-deploy"}, "spec": {"replicas": 2}},
        field_manager="py-apply",
        force=True,
        _content_type="application/apply-patch+yaml",
    )
    assert applied.spec.replicas == 2, applied.spec.replicas
    managers = {(m.manager, m.operation) for m in applied.metadata.managed_fields}
    assert ("py-apply", "Apply") in managers, managers
    print("server-side apply ok")

    status = v1.delete_namespaced_config_map("py-cm", "default")
    # Recent clients hand back the Status as a plain dict.
    outcome = status["status"] if isinstance(status, dict) else status.status
    assert outcome == "Success", status
    print("delete ok")


if __name__ == "__main__":
    main(sys.argv[1])
