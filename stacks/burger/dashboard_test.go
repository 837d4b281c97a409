package burger

import "testing"

func TestDashboardName(t *testing.T) {
	for stack, want := range map[string]string{
		"dev":          "linecook-dev",
		"acme/prod.eu": "linecook-acme-prod-eu",
		"team_a-1":     "linecook-team_a-1",
	} {
		if got := dashboardName(stack); got != want {
			t.Errorf("dashboardName(%q) = %q, want %q", stack, got, want)
		}
	}
}
