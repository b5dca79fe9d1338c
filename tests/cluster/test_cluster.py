"""The cluster behaves like a real one: workloads, DNS through Services, Secrets, Pod Security, CEL
validation in the API server, RBAC on real tokens, storage. Everything runs against the live cluster."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.support.cluster import TESTBOX_IMAGE, pod_spec, restricted_container, run_pod, wait_for

pytestmark = pytest.mark.cluster


def web_deployment(name: str, replicas: int) -> client.V1Deployment:
    # Each replica serves its own hostname, so the client can tell that it reached a pod of the Service.
    serve = "mkdir -p /tmp/www && hostname > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"
    labels = {"app": name}
    container = restricted_container("web", ["sh", "-c", serve],
                                     ports=[client.V1ContainerPort(container_port=8080)],
                                     readiness_probe=client.V1Probe(
                                         tcp_socket=client.V1TCPSocketAction(port=8080), period_seconds=1))
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            replicas=replicas, selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels=labels),
                                              spec=pod_spec([container]))))


def test_deployment_ready_and_reachable_by_service_dns(kube: client.ApiClient, namespace: str) -> None:
    apps, core = client.AppsV1Api(kube), client.CoreV1Api(kube)
    apps.create_namespaced_deployment(namespace, web_deployment("web", 2))
    core.create_namespaced_service(namespace, client.V1Service(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1ServiceSpec(selector={"app": "web"},
                                  ports=[client.V1ServicePort(port=80, target_port=8080)])))
    wait_for(lambda: apps.read_namespaced_deployment(  # both replicas Ready
        "web", namespace).status.ready_replicas == 2, 120, "2 ready replicas")
    url = f"http://web.{namespace}.svc.cluster.local/"
    # `timeout`, not wget's -T: Debian's busybox 1.35 wget crashes with -T on this kernel.
    fetch = f"for i in 1 2 3 4 5; do timeout 5 wget -qO- {url} && exit 0; sleep 2; done; exit 1"
    phase, logs = run_pod(kube, namespace, "client", pod_spec([restricted_container(
        "client", ["sh", "-c", fetch])]))
    pods = {p.metadata.name for p in core.list_namespaced_pod(namespace, label_selector="app=web").items}
    assert phase == "Succeeded", logs
    assert logs.strip() in pods, f"expected one of {pods}, got {logs!r}"


def test_secret_mounted_read_only(kube: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube)
    core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="creds"), data={"token": base64.b64encode(b"s3cret").decode()}))
    script = "cat /creds/token; echo; touch /creds/new 2>/dev/null && echo WRITABLE || echo READ-ONLY"
    container = restricted_container("reader", ["sh", "-c", script], volume_mounts=[
        client.V1VolumeMount(name="creds", mount_path="/creds", read_only=True)])
    phase, logs = run_pod(kube, namespace, "reader", pod_spec(
        [container], volumes=[client.V1Volume(name="creds", secret=client.V1SecretVolumeSource(
            secret_name="creds"))]))
    assert phase == "Succeeded", logs
    assert logs.split() == ["s3cret", "READ-ONLY"]


def test_hardened_pod_runs(kube: client.ApiClient, namespace: str) -> None:
    script = "id -u; touch /rootfs-write 2>/dev/null && echo WRITABLE || echo READ-ONLY"
    container = restricted_container("hardened", ["sh", "-c", script], read_only_root=True)
    phase, logs = run_pod(kube, namespace, "hardened", pod_spec([container]))
    assert phase == "Succeeded", logs
    assert logs.split() == ["65534", "READ-ONLY"]


def test_restricted_namespace_refuses_privileged_pod(kube: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube)
    core.patch_namespace(namespace, {"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": "restricted"}}})
    privileged = client.V1Pod(metadata=client.V1ObjectMeta(name="priv"), spec=client.V1PodSpec(containers=[
        client.V1Container(name="c", image=TESTBOX_IMAGE, image_pull_policy="IfNotPresent",
                           command=["sleep", "5"],
                           security_context=client.V1SecurityContext(privileged=True))]))
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod(namespace, privileged)
    assert err.value.status == 403
    message = json.loads(err.value.body)["message"]
    assert 'violates PodSecurity "restricted:latest"' in message
    assert 'privileged (container "c" must not set securityContext.privileged=true)' in message


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.test.flarekube.dev"},
    "spec": {
        "group": "test.flarekube.dev",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {
                "type": "object",
                "properties": {"replicas": {"type": "integer"}, "maxReplicas": {"type": "integer"}},
                "x-kubernetes-validations": [{"rule": "self.replicas <= self.maxReplicas",
                                              "message": "replicas must not exceed maxReplicas"}],
            }}}},
        }],
    },
}


def test_crd_cel_rule_enforced_by_api_server(kube: client.ApiClient, namespace: str) -> None:
    ext, custom = client.ApiextensionsV1Api(kube), client.CustomObjectsApi(kube)
    try:
        ext.create_custom_resource_definition(CRD)
    except ApiException as err:
        if err.status != 409:  # left by an earlier run on a reused cluster
            raise

    def established() -> bool:
        conds = ext.read_custom_resource_definition(CRD["metadata"]["name"]).status.conditions or []
        return any(x.type == "Established" and x.status == "True" for x in conds)

    wait_for(established, 30, "the CRD to be established")

    def widget(name: str, replicas: int) -> dict[str, object]:
        return {"apiVersion": "test.flarekube.dev/v1", "kind": "Widget", "metadata": {"name": name},
                "spec": {"replicas": replicas, "maxReplicas": 3}}

    # Discovery of a new CRD can lag a moment behind Established.
    wait_for(lambda: _create_ok(custom, namespace, widget("good", 2)), 30, "a valid Widget to be accepted")
    with pytest.raises(ApiException) as err:
        custom.create_namespaced_custom_object("test.flarekube.dev", "v1", namespace, "widgets",
                                               widget("bad", 5))
    assert err.value.status == 422
    assert "replicas must not exceed maxReplicas" in json.loads(err.value.body)["message"]


def _create_ok(custom: client.CustomObjectsApi, namespace: str, body: dict[str, object]) -> bool:
    try:
        custom.create_namespaced_custom_object("test.flarekube.dev", "v1", namespace, "widgets", body)
    except ApiException as err:
        if err.status == 404:
            return False
        raise
    return True


def test_rbac_denies_what_the_role_does_not_grant(kube: client.ApiClient, cluster: Path,
                                                  namespace: str) -> None:
    core, rbac = client.CoreV1Api(kube), client.RbacAuthorizationV1Api(kube)
    core.create_namespaced_service_account(namespace, client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name="reader")))
    rbac.create_namespaced_role(namespace, client.V1Role(
        metadata=client.V1ObjectMeta(name="cm-reader"),
        rules=[client.V1PolicyRule(api_groups=[""], resources=["configmaps"], verbs=["get", "list"])]))
    rbac.create_namespaced_role_binding(namespace, client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="cm-reader"),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="cm-reader"),
        subjects=[client.RbacV1Subject(kind="ServiceAccount", name="reader", namespace=namespace)]))
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[],
                                                                                   expiration_seconds=600))
    token = core.create_namespaced_service_account_token("reader", namespace, request).status.token

    cfg = client.Configuration()
    cfg.host = kube.configuration.host
    cfg.ssl_ca_cert = kube.configuration.ssl_ca_cert
    cfg.api_key = {"authorization": f"Bearer {token}"}
    with client.ApiClient(cfg) as as_sa:
        sa_core = client.CoreV1Api(as_sa)
        # The binding can take a moment to reach the authorizer's cache.
        wait_for(lambda: _allowed(lambda: sa_core.list_namespaced_config_map(namespace)), 30, "granted list")
        for denied in (lambda: sa_core.list_namespaced_secret(namespace),
                       lambda: sa_core.create_namespaced_config_map(namespace, client.V1ConfigMap(
                           metadata=client.V1ObjectMeta(name="nope"))),
                       lambda: sa_core.list_namespaced_config_map("kube-system")):
            with pytest.raises(ApiException) as err:
                denied()
            assert err.value.status == 403
            assert f"system:serviceaccount:{namespace}:reader" in json.loads(err.value.body)["message"]


def _allowed(call: object) -> bool:
    try:
        call()  # type: ignore[operator]
    except ApiException as err:
        if err.status == 403:
            return False
        raise
    return True


def test_pvc_binds_and_is_writable(kube: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube)
    requests = client.V1VolumeResourceRequirements(requests={"storage": "64Mi"})
    core.create_namespaced_persistent_volume_claim(namespace, client.V1PersistentVolumeClaim(
        metadata=client.V1ObjectMeta(name="data"),
        spec=client.V1PersistentVolumeClaimSpec(access_modes=["ReadWriteOnce"], resources=requests)))
    # The pod comes first: with a WaitForFirstConsumer class (kind's) the claim binds only once it is used.
    container = restricted_container("writer", ["sh", "-c", "echo persisted > /data/f && cat /data/f"],
                                     volume_mounts=[client.V1VolumeMount(name="data", mount_path="/data")])
    phase, logs = run_pod(kube, namespace, "writer", pod_spec([container], volumes=[client.V1Volume(
        name="data", persistent_volume_claim=client.V1PersistentVolumeClaimVolumeSource(claim_name="data"))]))
    assert phase == "Succeeded", logs
    assert logs.strip() == "persisted"
    assert core.read_namespaced_persistent_volume_claim("data", namespace).status.phase == "Bound"
