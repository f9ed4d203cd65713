package constructs

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// The gateway's CloudWatch metrics (server/metrics.go writes them as EMF lines every minute, under the
// ServiceName dimension and, for ConversationsEnded, also under ServiceName and Outcome).
const (
	conversationsEndedMetric  = "ConversationsEnded"
	conversationsFailedMetric = "ConversationsFailed"
	bedrockErrorsMetric       = "BedrockErrors"
)

// GatewayAlarmsProps configures a GatewayAlarms.
type GatewayAlarmsProps struct {
	// ServiceName is the ServiceName dimension the gateway writes its metrics under (its
	// METRICS_SERVICE_NAME). Required.
	ServiceName *string
	// Namespace is the metrics' namespace (METRICS_NAMESPACE). Default DefaultMetricsNamespace.
	Namespace *string
	// MaxConversationsPerTask is the gateway's MAX_CONVERSATIONS: the near-capacity alarm fires when one
	// task holds 80 % of it. Required.
	MaxConversationsPerTask *float64
	// FailurePercent is the share of conversations that may end in a service failure over five minutes
	// before the failure-rate alarm fires. Default 5.
	FailurePercent *float64
}

// GatewayAlarms are the alarms an operator of the gateway needs, on the metrics the gateway writes
// itself, and an SNS topic they notify (subscribe to it: docs/ecs-stack.md#alarms), plus a dashboard of
// the same metrics. The same construct serves the ECS and the EKS stack: both gateways write the same EMF
// lines.
type GatewayAlarms struct {
	constructs.Construct
	// Topic receives every alarm's state changes.
	Topic awssns.Topic
	// BedrockRejected fires on any conversation closed with 4502: Bedrock refuses the gateway (model
	// access, permissions, region, model id), and every conversation fails until an operator acts.
	BedrockRejected awscloudwatch.Alarm
	// FailureRate fires when more than FailurePercent of the conversations of two five-minute periods in a
	// row ended in a service failure (1011, 4408, 4429, 4500, 4502, 4503).
	FailureRate awscloudwatch.Alarm
	// Throttled fires on conversations closed because Bedrock throttles: the account's Nova Sonic quota.
	Throttled awscloudwatch.Alarm
	// NearCapacity fires when a task has held 80 % of MaxConversationsPerTask for three minutes:
	// autoscaling is not keeping up, or its maximum is too low.
	NearCapacity awscloudwatch.Alarm
	// Dashboard shows conversations, outcomes, failures, Bedrock errors and tokens.
	Dashboard awscloudwatch.Dashboard
}

// NewGatewayAlarms creates the alarms, their topic and the dashboard.
func NewGatewayAlarms(scope constructs.Construct, id string, props *GatewayAlarmsProps) *GatewayAlarms {
	if props == nil {
		props = &GatewayAlarmsProps{}
	}
	requireProps("NewGatewayAlarms", id,
		required{"ServiceName", unsetString(props.ServiceName)},
		required{"MaxConversationsPerTask", props.MaxConversationsPerTask == nil || *props.MaxConversationsPerTask <= 0})
	this := constructs.NewConstruct(scope, &id)
	namespace := props.Namespace
	if namespace == nil {
		namespace = jsii.String(DefaultMetricsNamespace)
	}
	failurePercent := orNumber(props.FailurePercent, 5)

	metric := func(name, statistic string, period float64, dims map[string]*string) awscloudwatch.Metric {
		d := map[string]*string{"ServiceName": props.ServiceName}
		for k, v := range dims {
			d[k] = v
		}
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: namespace, MetricName: jsii.String(name), DimensionsMap: &d,
			Statistic: jsii.String(statistic), Period: awscdk.Duration_Minutes(jsii.Number(period)),
		})
	}
	outcome := func(name string) map[string]*string { return map[string]*string{"Outcome": jsii.String(name)} }

	// Enforce TLS for publishers and subscribers. No KMS key: alarm notifications carry metric names and
	// thresholds only, and CloudWatch cannot publish to a topic under the AWS-managed SNS key.
	topic := awssns.NewTopic(this, jsii.String("Topic"), &awssns.TopicProps{EnforceSSL: jsii.Bool(true)})
	cdknag.NagSuppressions_AddResourceSuppressions(topic, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-SNS2"),
		Reason: jsii.String("alarm notifications hold metric names and thresholds, nothing confidential; CloudWatch " +
			"cannot publish to a topic encrypted with the AWS-managed SNS key, and a customer-managed key would add cost for no secrecy"),
	}}, jsii.Bool(false))
	action := awscloudwatchactions.NewSnsAction(topic)

	alarm := func(alarmID, description string, m awscloudwatch.IMetric, threshold float64, comparison awscloudwatch.ComparisonOperator, periods float64) awscloudwatch.Alarm {
		a := awscloudwatch.NewAlarm(this, jsii.String(alarmID), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(description),
			Metric:             m,
			Threshold:          jsii.Number(threshold),
			ComparisonOperator: comparison,
			EvaluationPeriods:  jsii.Number(periods),
			DatapointsToAlarm:  jsii.Number(periods),
			// The gateway writes every metric every minute, zero included; a missing point means no task
			// was running, which these alarms are not about.
			TreatMissingData: awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(action)
		a.AddOkAction(action)
		return a
	}

	alarms := &GatewayAlarms{Construct: this, Topic: topic}
	alarms.BedrockRejected = alarm("BedrockRejected",
		"Bedrock refused the gateway (close code 4502): check model access, the task's permissions, BEDROCK_REGION and BEDROCK_MODEL_ID. Every conversation fails until fixed.",
		metric(conversationsEndedMetric, "Sum", 1, outcome("bedrock_rejected")), 1,
		awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, 1)
	alarms.FailureRate = alarm("FailureRate",
		fmt.Sprintf("More than %g%% of conversations ended in a service failure in two 5-minute periods in a row: see the gateway's logs (reason, error) and BedrockErrors.", *failurePercent),
		awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression: jsii.String("IF(ended > 0, 100 * failed / ended, 0)"),
			UsingMetrics: &map[string]awscloudwatch.IMetric{
				"failed": metric(conversationsFailedMetric, "Sum", 5, nil),
				"ended":  metric(conversationsEndedMetric, "Sum", 5, nil),
			},
			Label:  jsii.String("Failed conversations (%)"),
			Period: awscdk.Duration_Minutes(jsii.Number(5)),
		}), *failurePercent, awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD, 2)
	alarms.Throttled = alarm("Throttled",
		"Conversations were closed because Bedrock throttles (4429): the account's Nova Sonic quota in the Bedrock region is reached; ask for an increase in Service Quotas.",
		metric(conversationsEndedMetric, "Sum", 5, outcome("throttled")), 1,
		awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, 1)
	alarms.NearCapacity = alarm("NearCapacity",
		"A task has held 80% of MAX_CONVERSATIONS for three minutes: autoscaling is not keeping up, or its maximum is too low.",
		metric(ActiveSessionsMetric, "Maximum", 1, nil), 0.8**props.MaxConversationsPerTask,
		awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, 3)

	graph := func(title string, metrics ...awscloudwatch.IMetric) awscloudwatch.GraphWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Left: &metrics, Width: jsii.Number(12), Height: jsii.Number(6),
		})
	}
	alarms.Dashboard = awscloudwatch.NewDashboard(this, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		Widgets: &[]*[]awscloudwatch.IWidget{
			{
				graph("Conversations per task", metric(ActiveSessionsMetric, "Average", 1, nil), metric(ActiveSessionsMetric, "Maximum", 1, nil)),
				graph("Conversations ended and failed", metric(conversationsEndedMetric, "Sum", 1, nil), metric(conversationsFailedMetric, "Sum", 1, nil), metric(bedrockErrorsMetric, "Sum", 1, nil)),
			},
			{
				graph("Speech tokens", metric("SpeechInputTokens", "Sum", 5, nil), metric("SpeechOutputTokens", "Sum", 5, nil)),
				graph("Text tokens", metric("TextInputTokens", "Sum", 5, nil), metric("TextOutputTokens", "Sum", 5, nil)),
			},
			{
				awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
					Title:  jsii.String("Alarms"),
					Alarms: &[]interfacesawscloudwatch.IAlarmRef{alarms.BedrockRejected, alarms.FailureRate, alarms.Throttled, alarms.NearCapacity},
					Width:  jsii.Number(24),
				}),
			},
		},
	})
	return alarms
}
