"""CNI: flannel by default, calico when asked, anything else refused in one line naming the choices."""

from __future__ import annotations

import pytest
import yaml

from u7s.config.crosshost import check_cluster_wide
from u7s.config.inventory import parse
from u7s.errors import InventoryError, SettingsError
from tests.unit.u7s_fakes import make_settings


def test_flannel_is_the_default_and_calico_is_taken_in_any_case():
    assert make_settings().cni == "flannel"
    assert make_settings(CNI="calico").cni == "calico"
    assert make_settings(CNI=" Calico ").cni == "calico"
    assert make_settings(CNI="calico").as_table()["CNI"] == "calico"


def test_an_unknown_cni_is_one_line_naming_the_setting_and_the_choices():
    with pytest.raises(SettingsError) as exc:
        make_settings(CNI="weave")
    assert str(exc.value) == ("CNI=weave (from --set): not a pod network u7s installs; "
                              "use one of flannel, calico (default flannel)")


def test_calico_reuses_the_published_vxlan_port():
    s = make_settings(CNI="calico", PORT_FLANNEL="9472")
    assert s.ports["PORT_FLANNEL"] == 9472 and "CNI" not in s.ports


def test_hosts_of_one_cluster_may_not_run_different_cnis():
    inv = parse(yaml.safe_load("""
cluster: {name: t}
hosts:
  - {name: cp, address: 192.0.2.1, role: control-plane, settings: {CNI: calico}}
  - {name: w1, address: 192.0.2.2}
"""))
    with pytest.raises(InventoryError, match="CNI differs between hosts .*calico on cp; flannel on w1.*set CNI once"):
        check_cluster_wide(inv, {}, {})
    check_cluster_wide(inv, {}, {"CNI": "calico"})  # --set for every host: one value
