# The embedded default policy (policies/default.toml) in Rego, for the
# comparison in benches/engines.rs; tests/engine_equivalence.rs checks that
# it decides as `decide` does.
#
# data.country_groups: group name -> {country code: true}, as the policy
# lists them. data.country_aliases: {"HK": "CN"}; an alias counts as the
# country it stands for. data.classes: instance type -> the accelerator class
# our catalog computed. Loaded once.
#
# input: {"instance_type", "declared", "network", "headquarters", "parent"},
# each present when known. The result, data.export_control.action, is
# "allow", "require-license" or "deny".
package export_control

import rego.v1

default action := "allow"

action := "deny" if {
	embargoed
} else := "require-license" if {
	license_required
}

# An instance type the catalog does not know counts as 3A090.a
# (defaults.unknown_instance_type); a request that names none asks for no
# accelerator.
class := data.classes[input.instance_type]

class := "3A090.a" if {
	input.instance_type
	not data.classes[input.instance_type]
}

class := "none" if not input.instance_type

controlled if class in {"3A090.a", "3A090.b"}

locations contains input.declared

locations contains input.network

headquarters contains input.headquarters

headquarters contains input.parent

in_group(c, g) if data.country_groups[g][c]

in_group(c, g) if data.country_groups[g][data.country_aliases[c]]

is_country(c, x) if c == x

is_country(c, x) if data.country_aliases[c] == x

# embargo-e1-e2
embargoed if {
	some c in locations
	some g in ["E:1", "E:2"]
	in_group(c, g)
}

# 3a090-destination
destination(c) if {
	some g in ["D:1", "D:4", "D:5"]
	in_group(c, g)
	not carved_out(c)
}

destination(c) if {
	is_country(c, "MO")
	not carved_out(c)
}

carved_out(c) if {
	some g in ["A:5", "A:6"]
	in_group(c, g)
}

license_required if {
	controlled
	some c in locations
	destination(c)
}

# 3a090-headquarters
headquartered_in_scope(c) if in_group(c, "D:5")

headquartered_in_scope(c) if is_country(c, "MO")

outside_us if {
	some c in locations
	not is_country(c, "US")
}

license_required if {
	controlled
	some c in headquarters
	headquartered_in_scope(c)
	outside_us
}

# defaults.unknown_jurisdiction
license_required if {
	controlled
	count(locations) == 0
}
