# 领域取值的名称，控制台与命令行共用。代码本身（draft、high、service 等）在导出和 API 中保持不译。

status-draft = 草稿
status-complete = 已完成
status-approved = 已通过
status-rejected = 已驳回
status-needs-follow-up = 需回访
status-comment = 备注

band-high = 高
band-middle = 中
band-low = 低

dimension-service = 服务
dimension-product = 产品
dimension-price = 资费
dimension-network = 网络质量
dimension-care = 客户关怀
dimension-overall = 总体

segment-individual = 个人客户
segment-family = 家庭客户
segment-enterprise = 政企客户

tier-high = 高价值
tier-middle = 中价值
tier-low = 低价值
tier-unknown = 价值层级未知

stage-received = 已受理
stage-classified = 已分类
stage-dispatched = 已派单
stage-handled = 已处理
stage-reported = 已反馈客户
stage-followed-up = 已回访
stage-closed = 已关闭

category-service = 服务
category-network = 网络
category-billing = 计费 / 收费
category-marketing = 营销 / 促销

warning-repeated-complaints = 重复投诉
warning-score-drop = 评分下降
warning-low-score-core-customer = 核心客户低分
warning-commitment-past-due = 承诺已逾期
warning-refund-unconfirmed = 退费或补偿未确认
warning-case-overdue = 工单超时

role-viewer = 查看者
role-reviewer = 审核员
role-admin = 管理员
