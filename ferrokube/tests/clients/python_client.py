"""Drives ferrokube with the official Python client: list, create, read, watch, error, delete.

Usage: python_client.py KUBECONFIG. Prints one line per check; exits non-zero on a mismatch.
"""
import sys
import time

from kubernetes import client, config, dynamic, watch


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

    crd_round_trip()

    status = v1.delete_namespaced_config_map("py-cm", "default")
    # Recent clients hand back the Status as a plain dict.
    outcome = status["status"] if isinstance(status, dict) else status.status
    assert outcome == "Success", status
    print("delete ok")


def crd_round_trip():
    """A CRD created through the typed client, its objects through the dynamic client."""
    ext = client.ApiextensionsV1Api()
    ext.create_custom_resource_definition({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.py.example.com"},
        "spec": {
            "group": "py.example.com",
            "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [{
                "name": "v1", "served": True, "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "size": {"type": "integer", "default": 3},
                        "name": {"type": "string"},
                    }},
                }}},
            }],
        },
    })
    deadline = time.time() + 10
    while True:
        crd = ext.read_custom_resource_definition("gadgets.py.example.com")
        if any(c.type == "Established" and c.status == "True" for c in (crd.status.conditions or [])):
            break
        assert time.time() < deadline, crd.status
        time.sleep(0.1)
    dyn = dynamic.DynamicClient(client.ApiClient())
    gadgets = dyn.resources.get(api_version="py.example.com/v1", kind="Gadget")
    gadgets.create(namespace="default", body={
        "apiVersion": "py.example.com/v1", "kind": "Gadget",
        "metadata": {"name": "g1"}, "spec": {"name": "one"},
    })
    got = gadgets.get(name="g1", namespace="default")
    assert got.spec.size == 3 and got.spec.name == "one", got.spec
    patched = gadgets.patch(
        name="g1", namespace="default", body={"spec": {"size": 5}}, content_type="application/merge-patch+json"
    )
    assert patched.spec.size == 5, patched.spec
    names = [g.metadata.name for g in gadgets.get(namespace="default").items]
    assert names == ["g1"], names
    gadgets.delete(name="g1", namespace="default")
    ext.delete_custom_resource_definition("gadgets.py.example.com")
    print("custom resources ok")


if __name__ == "__main__":
    main(sys.argv[1])
